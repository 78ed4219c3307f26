"""A low-code configurable CRM platform.

This package holds the foundation (``crm_platform.core``) and the entry points (``app``, ``api``,
``cli``, ``celery_app``). Importing it imports nothing from the entry points.
"""

__version__ = "0.1.0"
