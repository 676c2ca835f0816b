"""A trader's MT5 history export, read into the trades a replay runs."""

from __future__ import annotations

import pytest

from dtms.core.types import Side
from dtms.replay.bars import ReplayInputError
from dtms.replay.table import parse_time
from dtms.replay.trades import Exit, read_trades

POINTS = {"EURUSD": 0.00001}

POSITIONS = """\
Time,Position,Symbol,Type,Volume,Price,S / L,T / P,Time,Price,Commission,Swap,Profit
2022.01.10 09:15:32,5001,EURUSD,buy,0.10,1.13,1.128,1.134,2022.01.10 11:02:10,1.1315,-0.7,0,15
2022.01.11 14:00:00,5002,EURUSD,sell,0.20,1.135,1.137,1.131,2022.01.11 15:30:00,1.13702,-1.4,0,-40.4
2022.01.12 08:00:00,5003,EURUSD,sell,0.20,1.13500,,,2022.01.12 09:00:00,1.13400,0,0,20.00
"""

DEALS = """\
ticket,order,time,time_msc,type,entry,magic,position_id,reason,volume,price,commission,swap,profit,fee,symbol,comment,external_id
1,0,1641800000,1641800000000,2,0,0,0,0,0.0,0.0,0.0,0.0,10000.0,0.0,,Deposit,
2,11,1641805200,1641805200000,0,0,0,11,0,0.3,1.13000,-1.05,0.0,0.0,0.0,EURUSD,,
3,12,1641808800,1641808800000,1,1,0,11,0,0.1,1.13100,-0.35,0.0,10.0,0.0,EURUSD,,
4,13,1641812400,1641812400000,1,1,0,11,0,0.2,1.13200,-0.70,0.0,40.0,0.0,EURUSD,,
5,14,1641816000,1641816000000,1,0,0,14,0,0.1,1.13300,0.0,0.0,0.0,0.0,EURUSD,,
6,15,1641819600,1641819600000,0,1,0,14,4,0.1,1.13500,0.0,0.0,-20.0,0.0,EURUSD,sl 1.13500,
"""


def test_positions_table_of_the_mt5_history_report(tmp_path):
    path = tmp_path / "positions.csv"
    path.write_text(POSITIONS)
    a, b, c = read_trades(str(path), POINTS, 3)
    assert (a.symbol, a.side, a.volume, a.price) == ("EURUSD", Side.BUY, 0.1, 1.13)
    assert a.opened_at == parse_time("2022.01.10 09:15:32")
    assert a.sl_distance == pytest.approx(0.002) and a.tp_distance == pytest.approx(0.004)
    assert a.exits == (Exit(parse_time("2022.01.10 11:02:10"), None),)  # closed by hand
    assert a.profit == pytest.approx(14.3)
    assert b.exits == ()  # closed at its stop (2 points beyond it): the broker's, not a hand
    assert (c.sl_distance, c.tp_distance, len(c.exits)) == (0.0, 0.0, 1)
    assert a.key == "positions.csv:2 #5001"


def test_deals_from_history_deals_get(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(DEALS)
    first, second = read_trades(str(path), POINTS, 3)
    assert (first.side, first.volume, first.price, first.opened_at) == (
        Side.BUY, 0.3, 1.13, 1641805200)
    assert first.exits == (Exit(1641808800, 0.1), Exit(1641812400, None))  # a partial, the rest
    assert first.profit == pytest.approx(50.0 - 2.1)
    assert (second.side, second.closed_at) == (Side.SELL, 1641819600)
    assert second.exits == (Exit(1641819600, None),)  # reason SL without a known SL: by hand


def test_semicolons_and_explicit_column_names(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("open_time;symbol;side;lots;open_price;sl;tp\n"
                    "2022-01-10T09:15:00;EURUSD;SELL;1;1.13;1.131;0\n")
    (t,) = read_trades(str(path), POINTS, 3)
    assert (t.side, t.volume, t.exits, t.sl_distance) == (Side.SELL, 1.0, (), pytest.approx(0.001))


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("Time,Symbol,Type,Volume,Price\n2022.01.10 09:00,GBPUSD,buy,1,1.3\n", 2,
         "symbol 'GBPUSD' has no bars (--bars gave EURUSD)"),
        ("Time,Symbol,Type,Volume,Price\n2022.01.10 09:00,EURUSD,hold,1,1.1\n", 2,
         "type 'hold' is neither buy nor sell"),
        ("Time,Symbol,Type,Volume,Price\n2022.13.10 09:00,EURUSD,buy,1,1.1\n", 2,
         "unparsable time"),
        ("Time,Symbol,Type,Volume,Price\n\n2022.01.10 09:00,EURUSD,buy,abc,1.1\n", 3,
         "unparsable volume 'abc'"),
        ("Time,Symbol,Type,Volume,Price,S / L\n2022.01.10 09:00,EURUSD,buy,1,1.1,1.2\n", 2,
         "not on the losing side"),
        ("Time,Symbol,Type,Volume,Price\n", 2, "no trades after the header"),
        ("time,symbol,type,entry,volume,price\n1641805200,EURUSD,0,0,1,1.1\n", 1,
         "deals need a position column"),
        ("time,position_id,symbol,type,entry,volume,price\n1641805200,7,EURUSD,0,1,1,1.1\n", 2,
         "whose open is not in the file"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, text, line, problem):
    path = tmp_path / "trades.csv"
    path.write_text(text)
    with pytest.raises(ReplayInputError) as info:
        read_trades(str(path), POINTS, 3)
    message = str(info.value)
    assert message.startswith(f"{path}: line {line}: "), message
    assert problem in message and "\n" not in message


def test_an_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(ReplayInputError, match=r"nope\.csv: cannot read the file"):
        read_trades(str(tmp_path / "nope.csv"), POINTS, 3)
