"""The API gateway: route table (`routes.py`) -> nginx configuration (`build.py`)."""
