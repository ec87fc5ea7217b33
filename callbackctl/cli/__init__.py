"""The command line: the parser and its registry (app), shared options (options), execution input
(inputs), and how results are shown (output: JSON, colour, progress)."""
