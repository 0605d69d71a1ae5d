"""wa-inbox: a WhatsApp Business (Cloud API) agent inbox backend."""
