"""Web UI edges: authenticate, authorise through memberships (web.access), call
one selector or service, render a template."""
