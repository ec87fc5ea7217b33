"""A no-op Java agent jar, written from Python (no JDK compiler needed).

LocalStack starts DynamoDB Local with ``-javaagent:<lib>/dynamodb-local/2/ddb-local-loader-0.1.jar``,
a patch of its own that lifts DynamoDB Local's limit of 20 global secondary indexes and that it
downloads from GitHub. Offline we cannot fetch it, and the JVM refuses to start when the agent jar is
missing, so the local cloud puts this agent there instead: its ``premain`` does nothing, so tables
keep DynamoDB Local's own limits (20 GSIs), which this project is far below.
"""

import struct
import zipfile
from pathlib import Path

CLASS_NAME = "LocalcloudNoopAgent"


def _utf8(text: str) -> bytes:
    data = text.encode()
    return b"\x01" + struct.pack(">H", len(data)) + data


def agent_class_bytes() -> bytes:
    """Class file (Java 8 format) of ``public class LocalcloudNoopAgent``
    with ``public static void premain(String, Instrumentation) { return; }``."""
    constants = [
        b"\x07" + struct.pack(">H", 2),  # 1: Class -> 2
        _utf8(CLASS_NAME),  # 2
        b"\x07" + struct.pack(">H", 4),  # 3: Class -> 4
        _utf8("java/lang/Object"),  # 4
        _utf8("premain"),  # 5
        _utf8("(Ljava/lang/String;Ljava/lang/instrument/Instrumentation;)V"),  # 6
        _utf8("Code"),  # 7
    ]
    code = b"\xb1"  # return
    code_attribute = struct.pack(">HHI", 0, 2, len(code)) + code + struct.pack(">HH", 0, 0)
    method = struct.pack(">HHHH", 0x0009, 5, 6, 1)  # public static, name, descriptor, 1 attribute
    method += struct.pack(">HI", 7, len(code_attribute)) + code_attribute
    return (
        struct.pack(">IHH", 0xCAFEBABE, 0, 52)
        + struct.pack(">H", len(constants) + 1)
        + b"".join(constants)
        + struct.pack(">HHHH", 0x0021, 1, 3, 0)  # public super, this, super, no interfaces
        + struct.pack(">H", 0)  # no fields
        + struct.pack(">H", 1)
        + method
        + struct.pack(">H", 0)  # no class attributes
    )


def write_agent_jar(path: Path) -> None:
    manifest = f"Manifest-Version: 1.0\r\nPremain-Class: {CLASS_NAME}\r\n\r\n"
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", manifest)
        jar.writestr(f"{CLASS_NAME}.class", agent_class_bytes())
    tmp.replace(path)
