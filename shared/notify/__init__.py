"""E-mail notifications: who watches a ticket, each person's preferences, who gets which e-mail
(``sending``) and what it says (``emails``)."""
