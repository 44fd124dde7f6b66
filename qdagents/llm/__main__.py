"""``python -m qdagents.llm check|estimate [overrides]``: see :mod:`qdagents.llm._cli`."""

from qdagents.llm._cli import main

raise SystemExit(main())
