from __future__ import annotations

from cmkaudit.cli import main

raise SystemExit(main())
