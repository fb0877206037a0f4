"""Taleweaver's backend, one package whose folders are its layers, top to bottom:

    web          the Flask app: blueprints, the Host/Origin/JSON checks, request parsing, SSE
    generations  story generations as server-side jobs: the writer, followers, shutdown
    stories | settings | accounts
                 stories as documents and their prompts; each user's backend settings and
                 active LLM service; users, logins and tokens
    llm          talking to LLM backends: the service interface, HTTP, errors, diagnosis,
                 descriptors and one module per backend (llm/backends/)
    storage      connections (SQLite, PostgreSQL), migrations, the SQL dialect, encryption
    config | errors

A layer imports only the layers below it (.importlinter says so and `lint-imports` checks it).
"""
