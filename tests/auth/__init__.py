"""Tests of app.auth: accounts, tokens, throttles, admin rights, who may call when AUTH is unset, SECRET_KEY."""
