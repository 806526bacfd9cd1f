"""Small factories for tests of every app: a region tree with two of everything, and users at each level."""

from __future__ import annotations

from .models import Region, Role, User, UserScope

PASSWORD = "Linli-test-2026"

# district → 2 streets → communities → grids; enough to test one branch against its siblings and cousins.
TREE = {
    "370198": "测试区",
    "370198001": "东街道",
    "370198002": "西街道",
    "370198001001": "东一社区",
    "370198001002": "东二社区",
    "370198002001": "西一村",
    "370198001001001": "东一社区第一网格",
    "370198001001002": "东一社区第二网格",
    "370198001002001": "东二社区第一网格",
    "370198002001001": "西一村第一网格",
}
LEVELS = {6: "district", 9: "street", 12: "community", 15: "grid"}


def build_region_tree(tree: dict[str, str] = TREE) -> dict[str, Region]:
    regions: dict[str, Region] = {}
    for code in sorted(tree, key=len):
        regions[code] = Region.objects.create(
            code=code, name=tree[code], level=LEVELS[len(code)], parent=regions.get(code[:-3])
        )
    return regions


def make_user(role: str | Role, *scope_codes: str, username: str | None = None, **fields) -> User:
    """A ready-to-use account (no forced password change, no two-factor unless asked)."""
    role = Role(role)
    username = username or f"{role.value}-{'-'.join(scope_codes) or 'self'}"
    user = User(username=username, role=role, is_staff=role == Role.DISTRICT_ADMIN, **fields)
    user.set_password(PASSWORD)
    user.save()
    UserScope.objects.bulk_create(UserScope(user=user, region_id=code) for code in scope_codes)
    return user
