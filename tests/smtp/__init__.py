"""Tests of agentpost.smtp: a real listener on 127.0.0.1 port 0, driven by smtplib."""
