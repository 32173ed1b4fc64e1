"""The off-site archive on the edge: clip encryption (crypto), the secret's derived key (keystore), the
upload queue (queue) and its uploader to the relay (uploader). See docs/archive-format.md."""
