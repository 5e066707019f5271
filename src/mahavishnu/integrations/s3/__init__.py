"""Backups of the memory store in any S3-API object store (AWS S3, MinIO, Cloudflare R2, Google
Cloud Storage's S3 endpoint): ``mahavishnu db backup --to s3://BUCKET/PREFIX/`` and ``db restore
--from s3://…``. Needs ``mahavishnu-cp[aws]`` (boto3). See ``backup.py``."""
