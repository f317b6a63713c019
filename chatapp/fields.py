"""Serializer fields shared by the APIs."""

import re

from rest_framework import serializers

_ASCII_INT = re.compile(r"-?[0-9]+")


class AsciiIntegerField(serializers.IntegerField):
    """An integer written in ASCII digits only. DRF's own accepts whatever int() does:
    Arabic-Indic or full-width digits, `1_000`, ` 5 `, `5.0`."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not _ASCII_INT.fullmatch(data):
            self.fail("invalid")
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)
