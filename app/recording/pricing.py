"""What a recording costs: Twilio's published per-minute price, in one place.

Source: Twilio's US voice pricing page (twilio.com/en-us/voice/pricing/us), "Call recording:
$0.0025 / min", which Twilio's own API fixture agrees with (a 4 s recording priced -0.0025:
twilio-csharp RecordingResourceTest). Twilio bills voice usage by the minute, rounded up
(twilio.com changelog "Billing Changes for Voice Insights Advanced Features Usage"). Storage is
free for the first 10,000 minutes of an account, then $0.0005 a minute a month: not counted here.
"""

from __future__ import annotations

import math
from decimal import Decimal

RECORDING_USD_PER_MINUTE = Decimal("0.0025")


def recording_cost(duration_seconds: int) -> Decimal:
    """The price of recording `duration_seconds`, whole minutes rounded up."""
    minutes = math.ceil(max(0, duration_seconds) / 60)
    return RECORDING_USD_PER_MINUTE * minutes
