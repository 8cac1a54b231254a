//! flask-session-plus Redis records against the real Python package.
