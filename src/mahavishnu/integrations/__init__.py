"""Integrations: other frameworks and services writing into (and reading from) the shared memory.

One subpackage per framework, none importing another (an import-linter contract), each needing its
own optional extra, imported only by whoever uses it (``import mahavishnu`` loads none of them):

    llamaindex/   a LlamaIndex vector store over the memory store and an embedding over its embedder
                  (``mahavishnu-cp[llamaindex]``)
    prefect/      Prefect flow and task runs recorded as workflow executions, and the backfill of
                  ``memory workflows import-prefect`` (``mahavishnu-cp[prefect]``)
    agno/         an Agno agent's runs stored as agent conversations (a post-hook), and a toolkit
                  whose tools search and store memories (``mahavishnu-cp[agno]``)
    s3/           ``db backup --to s3://`` and ``db restore --from s3://`` (``mahavishnu-cp[aws]``)
    _store.py     the store the hooks and tools open by default, its embedder loaded once a process

The layer sits above ``memory`` (it uses the store, workflows and conversations) beside services and
usage; the CLI above it reaches it. Secret references to cloud stores live with the other secrets,
below memory, in ``environments/cloud_secrets.py`` (and the KeePassXC and ``pass`` references in
``environments/password_stores.py``).
"""
