"""The pages, one module per page family; every route is listed in generations/urls.py."""
