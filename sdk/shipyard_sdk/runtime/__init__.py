"""The service-side runtime, run inside every service's own environment.

``wsgi`` is what gunicorn serves (``health`` in front of the user's app), ``check`` is the
build's import check, ``loader`` finds the user's app for both, ``gunicorn_conf`` holds the
gunicorn settings. It needs only flask and gunicorn, never anything of the control plane;
importing this package loads no user code.
"""

__all__: list[str] = []
