"""
Sinks: where a rotation publishes new credentials (command, GitHub, AWS Secrets Manager).

Nothing is imported here; the AWS sink lives in ``spatiafi_ops._aws``, below the sinks and
the sources that both use it.
"""
