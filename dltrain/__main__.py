from dltrain.cli import main

raise SystemExit(main())
