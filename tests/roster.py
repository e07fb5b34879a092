"""A small county roster (places, experts, rota) imported through the real CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from bot.cli import main

TZ = ZoneInfo("Asia/Shanghai")
PLACES = """county,township,village
青川县,木鱼镇,石坝村
青川县,木鱼镇,
青川县,城关镇,东河村
"""
EXPERTS = """name,openid,phone,team,specialties,crops,regions,leader
王植保,exp-wang,13800000001,植保队,病虫害,辣椒;玉米,木鱼镇,否
李植保,exp-li,13800000002,植保队,plant_protection,,木鱼镇,否
张畜牧,exp-zhang,13800000003,畜牧队,畜牧兽医,,木鱼镇,否
赵植保,exp-zhao,13800000004,植保队,植保、栽培,,青川县,否
刘组长,exp-liu,13800000005,植保队,病虫害,,青川县,是
"""
ON_DUTY = ("exp-wang", "exp-zhang", "exp-zhao")


def write_roster(folder: Path, now: datetime) -> dict[str, Path]:
    local = now.astimezone(TZ).replace(tzinfo=None, microsecond=0)
    start, end = (local - timedelta(hours=1)).isoformat(), (local + timedelta(hours=8)).isoformat()
    duty = "openid,start,end\n" + "".join(f"{o},{start},{end}\n" for o in ON_DUTY)
    files = {"places": PLACES, "experts": EXPERTS, "duty": duty}
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.csv"
        paths[name].write_text(content, encoding="utf-8")
    return paths


def import_roster(env: dict[str, str], folder: Path, now: datetime) -> None:
    paths = write_roster(folder, now)
    runner = CliRunner()
    for command in ("places", "experts", "duty"):
        result = runner.invoke(main, [command, "import", str(paths[command])], env=env)
        assert result.exit_code == 0, result.output
        assert "有问题的行 0" in result.output, result.output
