"""GitHub as a source of tasks: webhooks, the App's configuration, what Errand says back."""
