"""Network interfaces of qlight: REST + WebSocket + dashboard of the device, SCPI, metrics,
and the ETSI GS QKD 014 key-delivery API (served by uvicorn)."""
