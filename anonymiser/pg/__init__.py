"""PostgreSQL plumbing: connections, client tools, type mapping, COPY readers and writers."""
