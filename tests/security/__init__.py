"""Issue 12's security and clarity requirements, each tested natively and on the tab where it applies:
Host checks against DNS rebinding, connection limits, strict request framing, file modes, document ids
that are not UTF-8, a clear command line (errors, help, signals), the request log, and CouchDB's answers
to features browsercouch does not have."""
