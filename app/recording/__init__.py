"""Call recordings: started once the caller has heard the disclosure, kept at Twilio (or here, for
the dev phone), played in the console beside the transcript, deleted on schedule."""
