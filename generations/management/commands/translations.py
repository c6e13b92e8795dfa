from django.core.management.base import BaseCommand, CommandError

from generations import translations


class Command(BaseCommand):
    help = (
        "The translation catalogues in locale/: `update` adds the messages the sources show "
        "(and drops those they no longer do), `compile` compiles the catalogues whose .mo "
        "no longer matches, `check` lists what the test command would refuse."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["update", "compile", "check"])

    def handle(self, *args, action, **options):
        if action == "update":
            translations.extract_messages()
            self.stdout.write("Catalogues updated: translate the new entries, then compile.")
        elif action == "compile":
            try:
                compiled = translations.compile_stale()
            except translations.MissingGettext as exc:
                raise CommandError(str(exc)) from exc
            for po in compiled:
                self.stdout.write(f"Compiled {po.with_suffix('.mo')}")
        else:
            problems = translations.catalogue_problems()
            for problem in problems:
                self.stdout.write(problem)
            if problems:
                raise CommandError(f"The catalogues have {len(problems)} problem(s), listed above.")
