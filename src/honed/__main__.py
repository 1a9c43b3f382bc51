from honed.cli.main import entry

entry()
