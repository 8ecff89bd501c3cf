"""Tickets: the vocabulary (``models``), the lifecycle table (``lifecycle``), the service that
decides what a change implies (``service``), its SQL (``repository``), comments, the audit
trail as clients read it (``history``) and search."""
