"""The HTTP service over `rag`: the app (`api.main.create_app`), `rag serve` (`api.cli`), and the chat widget."""
