"""Gunicorn settings every instance starts with (``--config python:...``).

Naming a config keeps gunicorn from reading a ``gunicorn.conf.py`` that the service's code
might contain. The runner passes binding, workers and timeouts on the command line, which
win over this file; gunicorn ignores the names it does not know, so older versions start too.
"""

# Since gunicorn 25.1 every master opens a control socket at one fixed path in $HOME or
# $XDG_RUNTIME_DIR; instances would take it from each other.
control_socket_disable = True
