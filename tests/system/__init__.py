"""System tests against ``browsercouch serve`` subprocesses on 127.0.0.1: fuzzing, crash safety, the CLI."""
