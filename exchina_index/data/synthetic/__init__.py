"""The synthetic market generator behind the demo market and the benchmarks (nothing here is a real price).

:func:`generate_market` gives any universe frame a market; :func:`synthetic_universe` makes fake
universe frames of any size. The modules, in the order a market is made:

* :mod:`~exchina_index.data.synthetic.inputs`: the universe columns as arrays, the union of the
  exchange sessions, the listing lives;
* :mod:`~exchina_index.data.synthetic.calibration`: the public reference points (market cap, ADTV)
  the paths pass through, when given;
* :mod:`~exchina_index.data.synthetic.draws`: the common factors, each issuer's draws, the FX paths;
* :mod:`~exchina_index.data.synthetic.series`: each line's close, volume, shares and dividends;
* :mod:`~exchina_index.data.synthetic.market`: :func:`generate_market`, which runs them and builds
  the :class:`~exchina_index.data.market.MarketData`.

How it is generated (all from seeded ``numpy.random.Generator`` streams; seeds come from
``zlib.crc32`` of the ticker or issuer name (:func:`~exchina_index.data.synthetic.seeds.stable_seed`),
never Python's salted ``hash``, so two processes give the same bytes with the same numpy version):

* **Calendars**: every listing trades only on its own exchange's sessions
  (:func:`exchina_index.rules.calendar.sessions`, bundled table: no ``exchange_calendars`` start-up cost
  inside it; weekdays, with a note, where an exchange's holidays are not known),
  from ``listed_since`` (or the start) to the day before ``delisted`` (or the end).
* **Returns**: daily log returns on the union of all sessions = beta x a common rare-earth factor
  (Student-t, 4 degrees of freedom, 35 %/yr, plus an illustrative boom/bust drift path) + the
  issuer's stage exposures x three stage factors (12 %/yr each) + an issuer-specific Student-t
  shock that mean-reverts in level (half-life 1.5 years, so a name's size stays in a realistic
  band over the 12 years), so fat tails and co-movement are built in. Beta rises with ``purity``; total volatility
  falls with size (about 25 %/yr for $30B+ names, 80 %/yr for micro-caps). A listing's return over
  a holiday on its exchange is the sum of the union-day moves it missed. All lines of one issuer
  share one path (an ADR also moves with the FX rate between its currency and the home line's).
* **Size**: an issuer's market cap at its last session is taken from
  :data:`~exchina_index.data.synthetic.draws.ROUGH_CAP_USD` (rough orders of magnitude for
  well-known names, *not* market data) or drawn log-uniformly from a range that depends on the
  exchange (see :data:`~exchina_index.data.synthetic.draws.CAP_RANGE_USD`). Earlier caps follow
  the price path and the share count. **Calibrated** issuers (reference points given, as for the
  demo market: ``universe/market_reference.csv``) take their size from their latest reference
  market cap, and their log market cap gets a piecewise-linear bridge through the reference points
  on top of the random path (within 20 %; see
  :mod:`~exchina_index.data.synthetic.calibration`).
* **Liquidity**: daily traded value = turnover x market cap x a lognormal shock. Turnover is
  0.45-0.65 %/day for $10B+ caps, 0.25-0.5 % for $1-10B caps and 0.1-0.6 % for small and micro-caps;
  secondary lines (OTC ADRs, second listings) trade a fraction of that. Micro-caps also have
  sessions with zero volume (and an unchanged close). So Shin-Etsu/TDK get ADTVs above $100M and
  micro-caps below $1M (several below $250k). A line with ADTV reference points has its turnover
  scaled (log-linearly between the points, flat outside) so that its 63-session ADTV passes within
  35 % of each.
* **Shares**: issuance steps (Poisson; juniors about 0.6 a year of 3-25 % each, large caps buy back a little).
* **Dividends**: larger, diversified issuers pay 1-4 % a year, quarterly (US/Canada), twice a year
  (Japan, Australia, Europe, UK) or yearly (China/HK); the price drops by the dividend on the ex-date.
* **FX**: USD per unit for every non-USD currency of the universe: a trend (in logs) from a
  plausible early-2015 level to a plausible 2026 level plus a mean-reverting deviation with the
  currency's usual daily volatility (HKD stays near its peg).

"""

from __future__ import annotations

from exchina_index.data.synthetic.market import generate_market
from exchina_index.data.synthetic.universe import synthetic_universe

__all__ = ["generate_market", "synthetic_universe"]
