"""One module per resource: asking, documents, health, and the widget."""
