"""CDK constructs and the stack for the Step Functions task-token callback pattern."""
