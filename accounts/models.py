import unicodedata
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MinLengthValidator
from django.db import models
from django.db.models.functions import Lower


def email_key(email: str) -> str:
    """What makes two emails the same account: Unicode compatibility forms folded (NFKC)
    and case folded, so that look-alikes (ＡＬＩＣＥ@, ALİCE@, strasse/straße) are one."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email.strip()).casefold())


class UserManager(BaseUserManager):
    def get_by_natural_key(self, username):
        # Emails are compared case- and compatibility-insensitively everywhere, sign-in included.
        found = self.filter(email_key=email_key(username)).first()
        return found if found is not None else self.get(email__iexact=username)

    def create_user(self, email, name, password=None, **extra):
        user = self.model(email=self.normalize_email(email), name=name, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, name, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, name, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254)
    email_key = models.CharField(max_length=254, unique=True, null=True, editable=False)
    name = models.CharField(max_length=50, validators=[MinLengthValidator(1)])
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def save(self, *args, **kwargs):
        self.email_key = email_key(self.email)
        if kwargs.get("update_fields") is not None and "email" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "email_key"}
        super().save(*args, **kwargs)

    def __str__(self):
        return f"{self.name} <{self.email}>"


class RefreshToken(models.Model):
    """One row per issued refresh token. Only a SHA-256 of the secret is kept.

    `family` groups every token descended from one sign-in, so that reuse of a
    consumed token can revoke the whole line. `grace_used` records the single extra
    presentation the grace period allows after rotation.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    grace_used = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self):
        return f"refresh token {self.pk} of user {self.user_id}"
