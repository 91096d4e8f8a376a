import Foundation
import YardCore

/// The project canvas: where each service's card sits and which services reference which
/// (`${{Postgres.DATABASE_URL}}` in web's variables draws web → Postgres).
public struct DashboardCanvas: Sendable, Equatable {
    public struct Card: Sendable, Equatable {
        public var name: String
        public var column: Int
        public var row: Int
        public var centerX: Int { column * DashboardCanvas.cellWidth + DashboardCanvas.cardWidth / 2 }
        public var centerY: Int { row * DashboardCanvas.cellHeight + DashboardCanvas.cardHeight / 2 }
    }

    public struct Line: Sendable, Equatable {
        public var from: String
        public var to: String

        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    /// The card grid (the CSS in DashboardAssets uses the same sizes).
    public static let columns = 4
    public static let cardWidth = 240
    public static let cardHeight = 130
    public static let gap = 48
    static var cellWidth: Int { cardWidth + gap }
    static var cellHeight: Int { cardHeight + gap }

    public var cards: [Card]
    public var lines: [Line]

    public var width: Int { max(1, min(cards.count, Self.columns)) * Self.cellWidth - Self.gap }
    public var height: Int { max(1, (cards.count + Self.columns - 1) / Self.columns) * Self.cellHeight - Self.gap }

    /// Cards in the services' order, four to a row; a line for each service another one's
    /// variable values name in a reference (each pair once, no line to itself or `shared`).
    public init(services: [String], variables: [String: [VariableView]]) {
        cards = services.enumerated().map { Card(name: $1, column: $0 % Self.columns, row: $0 / Self.columns) }
        var lines: [Line] = []
        for service in services {
            for variable in variables[service] ?? [] {
                for target in Self.referencedServices(in: variable.value ?? "") where target != service {
                    guard let name = services.first(where: { $0 == target }) ?? services.first(where: { $0.lowercased() == target.lowercased() }),
                          name != service, !lines.contains(Line(from: service, to: name))
                    else { continue }
                    lines.append(Line(from: service, to: name))
                }
            }
        }
        self.lines = lines
    }

    /// The service names in a value's `${{service.KEY}}` references.
    static func referencedServices(in value: String) -> [String] {
        var names: [String] = []
        _ = try? VariableReferences.resolve(value) { reference in
            if let service = reference.service, service != "shared" { names.append(service) }
            return ""
        }
        return names
    }

    public func card(_ name: String) -> Card? { cards.first { $0.name == name } }
}
