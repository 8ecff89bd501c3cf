"""SLA engine: policies, business calendars, clocks and their timers."""
