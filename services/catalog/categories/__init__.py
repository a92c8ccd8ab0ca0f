"""Categories: the catalog's browsing tree, admin-managed, readable by anyone."""
