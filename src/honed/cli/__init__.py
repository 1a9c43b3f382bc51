"""The command line: parses options, calls the library, maps errors to exit codes."""
