"""Anonymous to known: a visitor's choices made before signing in follow them into their
account, at most once per anonymous id, never joining two people, and undoably."""
