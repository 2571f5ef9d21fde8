class AnyType(str):
    """A type name that every other type name equals (the "any" socket packs declare)."""

    def __ne__(self, other):
        return False


any_type = AnyType("*")
