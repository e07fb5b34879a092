"""The WeChat edge: the webhook, the push protocol (signatures, AES, XML), the replay
guard, the reply cache (and its Redis link) and the outbound API client."""
