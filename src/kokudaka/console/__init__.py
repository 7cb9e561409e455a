"""The web console: pages for farmers, town staff and regional auditors.

Server-rendered (Jinja2, htmx for partial updates, Chart.js for charts, all served by
the service itself) in the same app, under ``/console``. Every page calls the same
services as the API, with the same permissions; no rule is written twice.
"""
