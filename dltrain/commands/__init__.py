"""One module per subcommand; each `run(cfg)` reads top to bottom as the story of its command."""
