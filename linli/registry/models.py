"""The master register of people, places, things and organisations (人地物组织).

Every row carries the 15/12/9-digit code of the region it belongs to (``region_code``), so the one scope rule
applies unchanged. Identifiers of people are encrypted at rest and found through blind indexes; names and
addresses are masked on every surface by default (see ``linli.core.pii``).
"""

from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from linli.core import clock
from linli.core.identifiers import Sex
from linli.core.models import Region
from linli.core.pii.fields import BlindIndexField, EncryptedCharField, EncryptedTextField
from linli.core.pii.masking import mask
from linli.core.scope import ScopedQuerySet


class Regional(models.Model):
    """A row that belongs to a region: its code is copied here so that scope filters need no join."""

    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(_("region code"), max_length=15, db_index=True, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.region_code = self.region_id
        super().save(*args, **kwargs)


class Located(models.Model):
    """WGS-84 longitude and latitude (convert GCJ-02 map picks before storing)."""

    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)

    class Meta:
        abstract = True


def normalise_id_number(value: str) -> str:
    return (value or "").strip().upper()


def normalise_phone(value: str) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())[-11:]


# --- Places: building → unit → house ---


class Building(Regional, Located):
    class Kind(models.TextChoices):
        RESIDENTIAL = "residential", _("Residential")
        COMMERCIAL = "commercial", _("Commercial")
        MIXED = "mixed", _("Mixed use")
        PUBLIC = "public", _("Public")
        VILLAGE_HOUSE = "village_house", _("Village house (自建房)")

    estate = models.CharField(_("estate or village group"), max_length=100, blank=True)
    name = models.CharField(_("building"), max_length=50)
    address = models.CharField(_("address"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.RESIDENTIAL)
    # An explicit bound, not the database's: the OpenAPI schema must read the same on SQLite and PostgreSQL.
    floors = models.PositiveSmallIntegerField(
        _("floors above ground"), null=True, blank=True, validators=[MaxValueValidator(200)]
    )

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        constraints = [
            models.UniqueConstraint(fields=["region", "estate", "name"], name="registry_building_unique")
        ]

    def __str__(self) -> str:
        return f"{self.estate}{self.name}"


class Unit(models.Model):
    building = models.ForeignKey(
        Building, on_delete=models.CASCADE, related_name="units", verbose_name=_("building")
    )
    name = models.CharField(_("unit"), max_length=20)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        constraints = [models.UniqueConstraint(fields=["building", "name"], name="registry_unit_unique")]

    def __str__(self) -> str:
        return f"{self.building}{self.name}"


class House(Regional, Located):
    class Use(models.TextChoices):
        SELF_OCCUPIED = "self_occupied", _("Self-occupied")
        RENTED = "rented", _("Rented")
        VACANT = "vacant", _("Vacant")
        COMMERCIAL = "commercial", _("Commercial")

    building = models.ForeignKey(
        Building, on_delete=models.PROTECT, related_name="houses", verbose_name=_("building")
    )
    # A building without units has one unit named "" so that (building, unit, number) stays unique.
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="houses", verbose_name=_("unit"))
    number = models.CharField(_("room number"), max_length=20)
    address = models.CharField(_("full address"), max_length=250, db_index=True)
    area = models.DecimalField(_("floor area (m²)"), max_digits=8, decimal_places=2, null=True, blank=True)
    use = models.CharField(_("use"), max_length=20, choices=Use.choices, default=Use.SELF_OCCUPIED)

    class Meta:
        verbose_name = _("house")
        verbose_name_plural = _("houses")
        constraints = [models.UniqueConstraint(fields=["unit", "number"], name="registry_house_unique")]

    def __str__(self) -> str:
        return self.address


# --- People ---


class Person(Regional):
    """One master record per resident ID number; the region is where the person lives (or is registered)."""

    class ResidenceType(models.TextChoices):
        REGISTERED = "registered", _("Registered resident (户籍)")
        FLOATING = "floating", _("Floating population (流动)")
        SEPARATED = "separated", _("Separated from registration (人户分离)")
        FOREIGN = "foreign", _("Foreign national (境外)")

    name = models.CharField(_("name"), max_length=50, db_index=True)
    id_number = EncryptedCharField(_("ID number"), max_length=18)
    id_number_index = BlindIndexField(source="id_number", normalise=normalise_id_number, unique=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, editable=False)  # from the ID number
    birth_date = models.DateField(_("birth date"), editable=False)
    phone = EncryptedCharField(_("mobile phone"), max_length=11, blank=True)
    phone_index = BlindIndexField(source="phone", normalise=normalise_phone, db_index=True, blank=True)
    ethnicity = models.CharField(_("ethnicity"), max_length=20, blank=True, default="汉族")
    residence_type = models.CharField(
        _("residence type"), max_length=20, choices=ResidenceType.choices, default=ResidenceType.REGISTERED
    )
    contact_name = models.CharField(_("emergency contact"), max_length=50, blank=True)
    contact_phone = EncryptedCharField(_("emergency contact phone"), max_length=11, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self) -> str:
        return mask("name", self.name) or ""

    @property
    def age(self) -> int:
        today = clock.now().date()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class Residency(Regional):
    """A person's tie to a house, with dates, so that the history is kept."""

    class Relation(models.TextChoices):
        OWNER = "owner", _("Owner")
        FAMILY = "family", _("Family member")
        TENANT = "tenant", _("Tenant")
        OTHER = "other", _("Other")

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="residencies", verbose_name=_("person")
    )
    house = models.ForeignKey(
        House, on_delete=models.PROTECT, related_name="residencies", verbose_name=_("house")
    )
    relation = models.CharField(_("relation"), max_length=10, choices=Relation.choices)
    start = models.DateField(_("from"), null=True, blank=True)
    end = models.DateField(_("to"), null=True, blank=True)

    class Meta:
        verbose_name = _("residency")
        verbose_name_plural = _("residencies")
        constraints = [
            models.UniqueConstraint(
                fields=["person", "house"],
                condition=models.Q(end=None),
                name="registry_residency_one_current",
            ),
            models.CheckConstraint(
                condition=models.Q(end=None) | models.Q(start=None) | models.Q(end__gte=models.F("start")),
                name="registry_residency_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} @ {self.house} ({self.get_relation_display()})"


class Household(Regional):
    """A household (户) in a house, with its head and members."""

    number = models.CharField(_("household number"), max_length=30, blank=True)
    house = models.ForeignKey(
        House, on_delete=models.PROTECT, related_name="households", verbose_name=_("house")
    )
    head = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="headed_households",
        verbose_name=_("head of household"),
    )
    members = models.ManyToManyField(Person, through="HouseholdMember", related_name="households")

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")

    def __str__(self) -> str:
        return f"{self.number or self.pk} {self.house}"


class HouseholdMember(models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    relation_to_head = models.CharField(_("relation to head"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("household member")
        verbose_name_plural = _("household members")
        constraints = [models.UniqueConstraint(fields=["household", "person"], name="registry_member_unique")]

    def __str__(self) -> str:
        return f"{self.person} ∈ {self.household}"


class LegalBasis(models.TextChoices):
    STATUTORY_DUTY = "statutory_duty", _("Statutory duty (履行法定职责)")
    CONSENT = "consent", _("Consent")
    SEPARATE_CONSENT = "separate_consent", _("Separate consent (单独同意)")
    CONTRACT = "contract", _("Contract")
    EMERGENCY = "emergency", _("Emergency (protecting life and health)")


class Consent(models.Model):
    """A person's consent for one purpose, or its withdrawal; the notice version they saw is kept."""

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="consents", verbose_name=_("person")
    )
    purpose = models.CharField(_("purpose"), max_length=50)
    basis = models.CharField(_("legal basis"), max_length=20, choices=LegalBasis.choices)
    notice_version = models.CharField(_("notice version"), max_length=20, blank=True)
    granted_at = models.DateTimeField(_("granted"))
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        "core.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")

    def __str__(self) -> str:
        return f"{self.person} {self.purpose} ({self.get_basis_display()})"


class Tag(models.TextChoices):
    """Special groups, each with the basis on which the government may keep it (see services.TAG_RULES)."""

    ELDERLY_ALONE = "elderly_alone", _("Elderly living alone (独居老人)")
    AGED_80 = "aged_80", _("Aged 80 or over (高龄)")
    DISABLED = "disabled", _("Disabled (残疾人)")
    VETERAN = "veteran", _("Veteran (退役军人)")
    DIBAO = "dibao", _("Minimum living allowance (低保)")
    TEKUN = "tekun", _("Extreme poverty support (特困)")
    PARTY_MEMBER = "party_member", _("Party member (党员)")
    MINOR = "minor", _("Minor (未成年人)")
    NEEDS_CARE = "needs_care", _("Needs care (需关爱人员)")


class PersonTag(Regional):
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="tags", verbose_name=_("person")
    )
    tag = models.CharField(_("group"), max_length=20, choices=Tag.choices, db_index=True)
    detail = models.CharField(_("detail (e.g. disability type and grade)"), max_length=100, blank=True)
    basis = models.CharField(_("legal basis"), max_length=20, choices=LegalBasis.choices)
    basis_reference = models.CharField(
        _("basis reference (law, register or consent)"), max_length=200, blank=True
    )
    consent = models.ForeignKey(
        Consent, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("consent")
    )
    since = models.DateField(_("since"), null=True, blank=True)

    class Meta:
        verbose_name = _("special-group tag")
        verbose_name_plural = _("special-group tags")
        constraints = [models.UniqueConstraint(fields=["person", "tag"], name="registry_tag_unique")]
        # "People in my scope with this tag": found from the tag side by region prefix, not by walking
        # every person of a street (docs/benchmarks/registry.md). The pattern opclass lets PostgreSQL use
        # the index for LIKE 'prefix%' under any collation; other databases ignore it.
        indexes = [
            models.Index(
                fields=["tag", "region_code"],
                name="registry_tag_region_prefix",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} {self.get_tag_display()}"


# --- Organisations and things ---


class Organisation(Regional, Located):
    class Kind(models.TextChoices):
        ENTERPRISE = "enterprise", _("Enterprise")
        SHOP = "shop", _("Shop")
        SOCIAL = "social", _("Social organisation")
        PARTY = "party", _("Party organisation")
        PROPERTY = "property", _("Property company")
        PUBLIC = "public", _("Public institution")
        COLLECTIVE = "collective", _("Village collective economic organisation")

    name = models.CharField(_("name"), max_length=100, db_index=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    house = models.ForeignKey(
        House,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="organisations",
        verbose_name=_("place"),
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact"), max_length=50, blank=True)
    contact_phone = EncryptedCharField(_("contact phone"), max_length=11, blank=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class Facility(Regional, Located):
    """A public facility, in the urban-management sense of a component (部件) with a kind and a code."""

    class State(models.TextChoices):
        NORMAL = "normal", _("Normal")
        DAMAGED = "damaged", _("Damaged")
        LOST = "lost", _("Lost")
        REMOVED = "removed", _("Removed")

    kind = models.CharField(_("component kind"), max_length=50)
    code = models.CharField(_("component code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.NORMAL)

    class Meta:
        verbose_name = _("public facility")
        verbose_name_plural = _("public facilities")

    def __str__(self) -> str:
        return f"{self.kind} {self.code}"


class Vehicle(Regional):
    class Kind(models.TextChoices):
        CAR = "car", _("Car")
        NEW_ENERGY = "new_energy", _("New-energy car")
        TRUCK = "truck", _("Truck")
        MOTORCYCLE = "motorcycle", _("Motorcycle")
        OTHER = "other", _("Other")

    plate = models.CharField(_("plate"), max_length=10, unique=True)
    owner = models.ForeignKey(
        Person,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="vehicles",
        verbose_name=_("owner"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.CAR)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")

    def __str__(self) -> str:
        return self.plate


# --- Excel imports ---


class ImportJob(Regional):
    """One uploaded workbook being imported (or imported): its progress, counts and errors.

    ``errors`` holds the first errors for the page, with identifiers masked; the error sheet (the original
    rows plus an error column) holds plaintext identifiers the uploader typed, so it is stored encrypted.
    """

    class Kind(models.TextChoices):
        HOUSES = "houses", _("Houses")
        PEOPLE = "people", _("People with residency")
        ORGANISATIONS = "organisations", _("Organisations")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Importing")
        SUCCEEDED = "succeeded", _("Imported")
        REJECTED = "rejected", _("Rejected (nothing written)")
        FAILED = "failed", _("Failed (nothing written)")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(
        "core.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    keep_valid = models.BooleanField(_("keep valid rows"), default=False)
    total = models.PositiveIntegerField(_("rows"), default=0)
    processed = models.PositiveIntegerField(_("rows checked"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    error_sheet = EncryptedTextField(_("error sheet"), blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.REJECTED, self.Status.FAILED)
