"""Traditional Chinese and Japanese descriptions of the top-level commands.

Kept small on purpose: Discord shows a command's description in the member's client
language, which costs one dictionary here, while translated replies would need every
message of every command translated and kept in step. Anything not listed stays English.
"""

from __future__ import annotations

import discord
from discord import app_commands

TW = discord.Locale.taiwan_chinese
JA = discord.Locale.japanese

#: English description -> its translations; the commands use these texts as `locale_str`.
DESCRIPTIONS: dict[str, dict[discord.Locale, str]] = {
    "Your level, rank and balances as a card": {
        TW: "以卡片顯示你的等級、排名與餘額",
        JA: "レベル・順位・残高をカードで表示",
    },
    "The community's leaderboard": {TW: "社群排行榜", JA: "コミュニティのランキング"},
    "A member's profile: level, balances, ranks": {
        TW: "成員個人資料：等級、餘額、排名",
        JA: "メンバーのプロフィール：レベル・残高・順位",
    },
    "Achievements a member has earned": {TW: "成員獲得的成就", JA: "メンバーが獲得した実績"},
    "The current season and the next one": {
        TW: "目前的賽季與下一個賽季",
        JA: "現在のシーズンと次のシーズン",
    },
    "Which announcements about you are posted": {
        TW: "設定是否公告你的升級與成就",
        JA: "あなたに関するお知らせの設定",
    },
    "Give a member XP, Stars or Gold": {
        TW: "給予成員經驗值、星星或金幣",
        JA: "メンバーに XP・スター・ゴールドを付与",
    },
    "Take XP, Stars or Gold from a member": {
        TW: "扣除成員的經驗值、星星或金幣",
        JA: "メンバーから XP・スター・ゴールドを差し引く",
    },
    "Give a member an achievement": {TW: "授予成員成就", JA: "メンバーに実績を付与"},
    "Townsquare settings of this server": {
        TW: "此伺服器的 Townsquare 設定",
        JA: "このサーバーの Townsquare 設定",
    },
}


class CommandTranslator(app_commands.Translator):
    """Answers discord.py's translation requests (made while syncing) from `DESCRIPTIONS`."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return DESCRIPTIONS.get(string.message, {}).get(locale)


def described(text: str) -> app_commands.locale_str:
    """A description discord.py will send with its translations (it must be listed)."""
    if text not in DESCRIPTIONS:
        raise KeyError(f"no translations for the description {text!r}")
    return app_commands.locale_str(text)
