"""What a client knows about the cluster: now ``msglib.protocol.metadata`` (the transaction coordinator
keeps one too). This module keeps the old import path working."""
from msglib.protocol.metadata import ClientMetadata

__all__ = ["ClientMetadata"]
