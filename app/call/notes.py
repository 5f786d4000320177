"""What the machine tells the model to say at the moments it decides on (system notes)."""

WRAP_UP_NOTE = (
    "The call reaches its time limit in 30 seconds. Help the caller finish now: offer to take a "
    "message if anything is left, then say goodbye."
)
CAP_GOODBYE = (
    "The call has reached its time limit. In one short sentence, apologise that you have to end "
    "the call now and say goodbye."
)
IDLE_PROMPT = "The caller has been silent for a while. Briefly ask if they are still there."
IDLE_GOODBYE = "The caller is still silent. Say a short, friendly goodbye; the call will end."
SHUTDOWN_GOODBYE = (
    "This line is closing for maintenance in a moment. In one short sentence, apologise and say "
    "you are passing the call on to the team."
)
RECONNECTED = (
    "The connection dropped for a moment. Apologise briefly and ask the caller to repeat what they "
    "last said."
)
DTMF_ZERO = "The caller pressed 0 on the keypad: they want a person. Offer to transfer them now."
