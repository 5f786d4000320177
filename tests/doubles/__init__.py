"""Protocol doubles of the services tests cannot reach (OpenAI, Twilio); benchmarks use them too."""
